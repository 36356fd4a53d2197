"""PKI names and trust: the bottom layer (standard library, cryptography, onboard.errors, onboard.atomicfile).

- `names`: distinguished names as OpenSSL and VOMS write them, parsed back, compared, hashed.
- `trustdirs`: the grid trust directory in use and the CA certificates in it.
- `bundle`: checking and installing an IGTF trust-anchor tarball (`onboard trust --install`).
- `der`: the small DER reader the others share with the PKCS#12 diagnosis.
"""
