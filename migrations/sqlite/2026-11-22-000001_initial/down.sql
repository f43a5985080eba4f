DROP TABLE audit;
DROP TABLE permissions;
DROP TABLE machines;
DROP TABLE tokens;
DROP TABLE users;
