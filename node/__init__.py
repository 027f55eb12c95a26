"""ChainBeasts node package."""
