// Starts GraphiQL against this server's /graphql: queries and mutations over HTTP,
// subscriptions over graphql-transport-ws on the same path. Loaded by /graphql in dev.
(function () {
  "use strict";
  var url = window.location.origin + "/graphql";
  var wsUrl = url.replace(/^http/, "ws");
  var EXAMPLE = [
    "# cardcash: credit-card cash advances.",
    "# Run: the play button (Ctrl-Enter).",
    "# Docs: the book icon, top left.",
    "# Sign in with mutation { login(input:",
    "#   {channel: ALIPAY, code: \"sandbox:alice\"})",
    "#   { ... on LoginSuccess { token } } }",
    "# then put {\"Authorization\": \"Bearer <token>\"}",
    "# in the Headers tab.",
    "query ServicePage {",
    "  banks(channel: ALIPAY) {",
    "    code",
    "    name",
    "    availability",
    "    usable",
    "  }",
    "}",
    ""
  ].join("\n");
  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: wsUrl });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: EXAMPLE,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
      defaultEditorToolsVisibility: true
    })
  );
})();
