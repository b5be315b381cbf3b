"""The Sigstore trusted root: kept fresh through TUF, and how old it is."""
