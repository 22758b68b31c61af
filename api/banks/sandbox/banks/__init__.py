"""Data files of the sandbox banks, one ``<CODE>.toml`` per bank (a package so they ship)."""
