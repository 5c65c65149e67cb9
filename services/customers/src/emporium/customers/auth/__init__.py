"""Sign-up, sign-in, refresh and sign-out; the signing keys and the JWKS."""
