"""vlab subpackage."""
