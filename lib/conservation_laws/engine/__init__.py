"""Engine: the bracket construction, its certificate, counts and laws (polynomial, logarithmic, Abelian).

The layer above ``flows``: ``lie`` counts independent laws N − dim Lie(W)(ξ0) with a certificate,
``laws`` finds polynomial laws, ``darboux`` logarithmic ones, ``abelian`` the laws of commuting
fields. The engine holds no global state: every function returns what its caller needs. Import the
modules (``from conservation_laws.engine import lie``); this file imports nothing, so that a
caller pays only for what it uses.
"""
