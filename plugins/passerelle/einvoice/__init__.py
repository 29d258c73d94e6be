"""The EN 16931 invoice as data (``model``) and its arithmetic (``amounts``).

The lowest layer of invoicing: the document renderers (``passerelle.documents``) and the issuing
pipeline (``passerelle.invoicing``) both build on it, and it imports neither.
"""
