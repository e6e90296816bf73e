"""Pure values and functions: identity (canonical JSON + content hash), names and refs, model
parameter rules, diffs and the version-tree layout. Nothing in here does I/O."""
