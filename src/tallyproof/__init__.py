"""tallyproof: public, checkable evidence that an election's reported outcome is right."""

__version__ = "0.1.0"
