"""Command-line tools over tf_style's public API (run from the repository root)."""
