"""The companion book's machinery: claims and their registry, provenance, the chapter toolkit.

It imports the library (``conservation_laws``) and is never imported by it. Chapters start with
``from companion import book, claims`` and count with the library.
"""
