"""A card of the viewer's, as GraphQL shows it: credit cards to draw on, debit cards to be paid to."""

from __future__ import annotations

from enum import Enum

import strawberry

from api.services.cards import CardView


@strawberry.enum(description="Whether a card is a credit card or a debit card.")
class CardKind(Enum):
    CREDIT = strawberry.enum_value(
        "CREDIT", description="A credit card: the source of a cash advance."
    )
    DEBIT = strawberry.enum_value("DEBIT", description="A debit card: where the money is paid out.")


@strawberry.type(description="A card of the viewer's, as the bank reports it. Never a full number.")
class Card:
    id: strawberry.ID = strawberry.field(
        description="Identifier to pass to quotes and withdrawals."
    )
    bank_code: str = strawberry.field(description="Code of the bank that issued the card.")
    kind: CardKind = strawberry.field(description="Credit or debit.")
    last4: str = strawberry.field(description="The last four digits.")
    masked_number: str = strawberry.field(
        description='The number masked for display: "**** **** **** 1234".'
    )
    product_name: str = strawberry.field(
        description="The card product's name, when the bank gives one."
    )

    @classmethod
    def from_view(cls, card: CardView) -> Card:
        return cls(
            id=strawberry.ID(card.id),
            bank_code=card.issuer_code,
            kind=CardKind(card.kind.value),
            last4=card.last4,
            masked_number=card.masked_number,
            product_name=card.product_name,
        )
