"""The victims: loading and saving models (:mod:`.load`), the hub families and their sizes
(:mod:`.families`), and the offline tiny family (:mod:`.tiny`)."""
