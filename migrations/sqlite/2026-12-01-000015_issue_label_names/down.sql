ALTER TABLE issues DROP COLUMN label_names;
