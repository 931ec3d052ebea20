-- 004_conversation_owner: who a conversation belongs to (SPEC S7).
--
-- With auth.mode = jwt the server stores the "sub" claim of the token that
-- created a conversation, and a user reads (REST history) and continues
-- (WebSocket, Socket.IO) only conversations whose owner is their sub.
-- NULL: created without a verified identity (auth.mode = off, or a path
-- outside auth.endpoints). Numbered 004: 003 is reserved for another change;
-- the migrator applies every missing number in order, gaps included.
ALTER TABLE conversations ADD COLUMN owner text;
CREATE INDEX conversations_owner_idx ON conversations (owner) WHERE owner IS NOT NULL;
