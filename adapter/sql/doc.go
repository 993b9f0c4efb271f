// Package dbadapter (import path adapter/sql) serves a database as ifkit
// interfaces: PostgreSQL through jackc/pgx, or a SQLite file
// (modernc.org/sqlite, no cgo) as the embedded default. Its manifests are
// made from the schema, and made again when the schema changes.
//
//	a, err := dbadapter.New(ctx, "", dbadapter.DefaultConfig()) // ./ifkit.db
//	srv := iface.NewServer(iface.WithCodecs(dbadapter.Codecs()))
//	a.Register(srv)
//	srv.ListenAndServe(ctx, "unix:///tmp/db.sock")
//	defer a.Close() // after srv.Close
//
// From one database and a Config it serves:
//
//   - NAME (duplex): each configured query as a request answered by a
//     stream of typed rows, read from the cursor only as the client grants
//     credit (Reply waits for it, so a slow client holds the cursor and
//     the adapter one row); each statement as a request answered by a
//     Result with the rows affected; Query and Exec with any SQL when the
//     configuration allows raw SQL; Begin, Commit and Rollback when it
//     allows transactions, scoped to the connection (its end rolls back).
//   - NAME.TABLE.sink (recv): messages inserted as rows in batches, one
//     transaction per batch, the connection's credit renewed only once the
//     batch has committed (iface.Interface.ManualCredit): credit means
//     stored. With Sink.Key, rows are inserted with ON CONFLICT (key) DO
//     NOTHING, so a message re-sent after a reconnect is not stored twice;
//     the key is the columns the client fills with its id and sequence
//     number (when the protocol carries a client key and sequence of its
//     own, they are what will fill these columns).
//   - NAME.TABLE.changes (send): the table's inserts, updates and deletes,
//     in commit order, each carrying its position. A connection starts at
//     now; the control operation reset moves it (a position to go on
//     after, "now" or "start"), so a client that keeps the position of the
//     last change it has resumes there without loss or duplicates. How the
//     feed follows the table is Config.Mode:
//   - logical (PostgreSQL with wal_level = logical and a role that may
//     replicate; what mode auto, the default, takes there): logical
//     replication with pgoutput, a publication and a replication slot per
//     feed, both named Adapter.SlotName (ifkit_DATABASE_NAME_TABLE), and
//     the table set to REPLICA IDENTITY FULL so that updates and deletes
//     carry the whole old row. Positions are the server's log positions:
//     X/Y for the last change of a transaction (its end), X/Y:N for the Nth
//     change of a larger one (X/Y its commit). The slot is told a position
//     only once the client's credit grants say it consumed the change
//     (iface.Conn.PeerConsumed), so what a client has not consumed stays
//     kept across its reconnects and the adapter's restarts; "start" is the
//     slot's oldest, and a position inside a transaction the slot has gone
//     past is refused. A slot has one reader at a time: a second connection
//     to the feed is ended with limit_exceeded. A slot keeps the server's
//     log until it is read: drop the slot of a feed no longer served
//     (SELECT pg_drop_replication_slot('ifkit_…')).
//   - trigger (SQLite; PostgreSQL otherwise): triggers fill a change table
//     (Config.ChangeTable); positions are its ids. On PostgreSQL a NOTIFY
//     wakes the feeds at once; otherwise they look every FeedPoll, and at
//     once after the adapter's own writes. With Config.Retention, changes
//     older than it are pruned (each SchemaPoll), a reset to a pruned
//     position is refused with the reason, and a reader that falls behind
//     is ended with limit_exceeded.
//
// Serve on a server made with iface.WithCodecs(Codecs()): the rows the
// adapter writes from typed columns (query rows, logical changes) are
// checked column by column as they are written and sent as they are,
// without the JSON Schema run on each again; on any other server every row
// is checked.
//
// Column types become JSON Schema types (integer with the range of int2
// and int4, number, string with maxLength of varchar(n), enum of an enum
// type, boolean, base64 bytes, date-time, date, uuid, any JSON for json
// columns), NOT NULL makes a member required (in a sink: unless the
// database fills it), and a nullable column's type admits null.
//
// Failures are refused with a code and the database's reason (which
// column, which constraint), from one table:
//
//	invalid_message   a value the database refuses: NOT NULL, unique, check and
//	                  foreign-key violations, bad values, SQL it does not accept
//	limit_exceeded    the database is busy, full or out of resources
//	canceled          the request was cancelled (the client went away)
//	unimplemented     the database does not allow it (read-only, permissions)
//	transport_error   the database is unreachable or went away: a stream ends
//	                  with it, a feed's connection ends with it and its position,
//	                  a sink's batch is refused whole (the pool connects again
//	                  when the database is back)
//	internal          anything else
//
// A batch of a sink that fails is rolled back whole: its failing message is
// refused with the reason, its others with "rolled back with its batch";
// other connections go on. A commit whose answer was lost may have stored
// the batch: with Sink.Key, sending it again stores nothing twice.
//
// A DSN's password is never shown: Redact hides it, and the adapter's
// errors, refusals and log write *** where a driver's text would repeat it.
package dbadapter
