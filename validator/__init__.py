"""ChainBeasts validator package."""
