-- Each claim of a notification by a worker gets a token; outcomes are recorded only by the holder
-- of the current claim, so a worker whose lease ran out cannot overwrite a newer claim.
ALTER TABLE notifications ADD COLUMN claim_token BIGINT;
