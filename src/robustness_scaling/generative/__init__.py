"""Generation tasks: greedy answers after (attacked) prompts and the check that scores them
(:mod:`.answers`), and the judges that decide them (:mod:`.judges`)."""
