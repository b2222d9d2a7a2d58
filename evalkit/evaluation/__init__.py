"""Evaluation outputs that read only result records: paper tables and their formats
(:mod:`.tables`, :mod:`.report`), plots (:mod:`.plots`), regression comparison with a paired
significance test (:mod:`.compare`, :mod:`.stats`) and mteb leaderboard export
(:mod:`.export_mteb`)."""
