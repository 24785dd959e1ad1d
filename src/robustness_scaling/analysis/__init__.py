"""From records to results: the table contract (:mod:`.tables`), the attacks table
(:mod:`.aggregate`), and the scaling metrics (:mod:`.metrics`)."""
