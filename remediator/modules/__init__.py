"""Modules, one per file, each registered by name. Importing this package registers none by itself:
the registry imports every file here on first use."""
