"""pgoutput messages as a real PostgreSQL 15.x sent them, hex-encoded, for the decoder's tests.

Captured on 2026-12-02 from the test stack's Postgres (`up --only postgres` with port offset 4000) by
a script that, in a fresh database, ran:

    CREATE TYPE mood AS ENUM ('calm', 'tense');
    CREATE TABLE acct (id bigint PRIMARY KEY, balance numeric(12,2), note text, m mood);  -- identity default
    CREATE TABLE full_t (id int PRIMARY KEY, name text);
    ALTER TABLE full_t REPLICA IDENTITY FULL;
    CREATE PUBLICATION pub FOR TABLE acct, full_t;
    INSERT INTO acct VALUES (3, 1.00, <32,000 characters of md5 hex: TOASTed out of line>, 'calm');
    INSERT INTO full_t VALUES (1, 'a');
    SELECT pg_create_logical_replication_slot('capture', 'pgoutput');
    -- then each statement in its own transaction (autocommit):
    INSERT INTO acct VALUES (1, 12.50, NULL, 'calm');
    UPDATE acct SET id = 2, balance = 7.25 WHERE id = 1;      -- key changed: old key sent
    UPDATE acct SET balance = 2.00 WHERE id = 3;              -- note not touched: unchanged TOAST
    UPDATE full_t SET name = 'b' WHERE id = 1;                -- identity full: whole old row sent
    DELETE FROM acct WHERE id = 2;
    DELETE FROM full_t WHERE id = 1;
    TRUNCATE acct, full_t RESTART IDENTITY CASCADE;
    SELECT pg_logical_emit_message(true, 'audit', 'abc');
    SELECT pg_logical_emit_message(false, 'fence', 'x');
    CREATE TABLE unpublished (i int);                          -- flushes the WAL holding the message

    SELECT data FROM pg_logical_slot_peek_binary_changes('capture', NULL, NULL, 'proto_version', '1',
        'publication_names', 'pub', 'messages', 'true');

and for protocol 2 streaming, after consuming the above, one transaction of 3,000 rows decoded with
`SET logical_decoding_work_mem = '64kB'` and options `'proto_version', '2', 'streaming', 'on'`
(first messages of the first block, a later block's start, a block's end, the stream commit).

relids: acct 16635, full_t 16642; type mood 16631; transaction ids 757.. (v1), 766 (streamed).
"""

V1 = {
    "begin": "42000000000268a7780003049db8133dcc000002f5",
    "type": "59000040f77075626c6963006d6f6f6400",
    "relation_acct": "52000040fb7075626c69630061636374006400040169640000000014ffffffff0062616c616e636500000006a4"
                     "000c0006006e6f74650000000019ffffffff006d00000040f7ffffffff",
    "insert": "49000040fb4e0004740000000131740000000531322e35306e740000000463616c6d",
    "commit": "4300000000000268a778000000000268a7a80003049db8133dcc",
    "update_old_key": "55000040fb4b00047400000001316e6e6e4e00047400000001327400000004372e32356e740000000463616c6d",
    "update_unchanged_toast": "55000040fb4e00047400000001337400000004322e303075740000000463616c6d",
    "relation_full": "52000041027075626c69630066756c6c5f74006600020169640000000017ffffffff016e616d65000000001"
                     "9ffffffff",
    "update_old_row": "55000041024f00027400000001317400000001614e0002740000000131740000000162",
    "delete_key": "44000040fb4b00047400000001326e6e6e",
    "delete_old_row": "44000041024f0002740000000131740000000162",
    "truncate": "540000000203000040fb00004102",
    "message_transactional": "4d01000000000268c4a061756469740000000003616263",
    "message_not_transactional": "4d00000000000268c51066656e6365000000000178",
}

V2_STREAM = {
    "stream_start_first": "53000002fe01",
    "relation": "52000002fe000041027075626c69630066756c6c5f74006600020169640000000017ffffffff016e616d65000000"
                "0019ffffffff",
    "insert": "49000002fe000041024e00027400000001317400000005726f772031",
    "stream_stop": "45",
    "stream_start_next": "53000002fe00",
    "stream_commit": "63000002fe0000000000026f317000000000026f31a00003049db8139c18",
}
