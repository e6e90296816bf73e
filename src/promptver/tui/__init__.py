"""`promptver tui`: a keyboard-first Textual app over the registry (a face, like cli/ and server/).

Importing this package does not import Textual; ``promptver.tui.app`` does. See docs/tui.md.
"""
