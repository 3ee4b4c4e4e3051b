DROP TABLE issues;
DROP TABLE api_tokens;
DROP TABLE users;
