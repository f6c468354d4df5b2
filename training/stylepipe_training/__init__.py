"""Training of style and super-resolution networks (``stylepipe train``)."""
