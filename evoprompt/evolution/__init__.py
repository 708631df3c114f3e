"""Machinery any strategy uses: parent selection, operator templates, breeding, extraction."""
