-- Things the user should know about a finished run, such as a project
-- secret's value in its patch. Empty for most runs.
ALTER TABLE runs ADD COLUMN warnings text[] NOT NULL DEFAULT '{}';
