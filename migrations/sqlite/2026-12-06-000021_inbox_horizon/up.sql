-- Nothing to do on SQLite: one writer at a time commits inbox ids in order (see events.rs,
-- `FeedHorizon`). The migration exists so that both databases list the same steps.
SELECT 1;
