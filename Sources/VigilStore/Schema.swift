/// Schema and migrations, versioned by `PRAGMA user_version`. Each migration runs once, in order.
public enum Schema {
    static let migrations: [String] = [
        // v1: series, raw readings keyed by (series, ts), quarantine and reject counters.
        """
        CREATE TABLE series(
            id INTEGER PRIMARY KEY,
            machine TEXT NOT NULL,
            sensor TEXT NOT NULL,
            UNIQUE(machine, sensor)
        );
        CREATE TABLE reading(
            series_id INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            value REAL NOT NULL,
            seq INTEGER,
            PRIMARY KEY(series_id, ts)
        ) WITHOUT ROWID;
        CREATE TABLE quarantine(
            id INTEGER PRIMARY KEY,
            received_at INTEGER NOT NULL,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL
        );
        CREATE TABLE reject_count(
            reason TEXT PRIMARY KEY,
            n INTEGER NOT NULL
        );
        """,
        // v2: rollups (SPEC §4). Statistics are stored mergeable (mean and m2, see BucketStats).
        // `rollup_dirty` is the persistent to-do list of minutes whose raw rows changed; it is
        // written in the same transaction as the rows, so a crash never loses a re-reduction.
        // `rollup_base` holds what retention pruned away underneath a bucket (level 0: raw rows
        // under a minute, level 1: minutes under a day), merged back in on every recomputation.
        """
        CREATE TABLE rollup_minute(
            series_id INTEGER NOT NULL, start INTEGER NOT NULL,
            count INTEGER NOT NULL, sum REAL NOT NULL, mean REAL NOT NULL, m2 REAL NOT NULL,
            min REAL NOT NULL, max REAL NOT NULL,
            PRIMARY KEY(series_id, start)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_day(
            series_id INTEGER NOT NULL, start INTEGER NOT NULL,
            count INTEGER NOT NULL, sum REAL NOT NULL, mean REAL NOT NULL, m2 REAL NOT NULL,
            min REAL NOT NULL, max REAL NOT NULL,
            PRIMARY KEY(series_id, start)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_base(
            level INTEGER NOT NULL, series_id INTEGER NOT NULL, start INTEGER NOT NULL,
            count INTEGER NOT NULL, sum REAL NOT NULL, mean REAL NOT NULL, m2 REAL NOT NULL,
            min REAL NOT NULL, max REAL NOT NULL,
            PRIMARY KEY(level, series_id, start)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_dirty(
            series_id INTEGER NOT NULL, minute INTEGER NOT NULL,
            first_mark INTEGER NOT NULL, last_mark INTEGER NOT NULL,
            PRIMARY KEY(series_id, minute)
        ) WITHOUT ROWID;
        CREATE TABLE engine_state(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO rollup_dirty(series_id, minute, first_mark, last_mark)
            SELECT DISTINCT series_id, ts - (ts % 60000), 0, 0 FROM reading;
        """,
        // v3: health (SPEC §5). `model` is the registry: every version with its lineage and its
        // exact body (reloading it scores byte-identically). `machine_health` is each machine's
        // current state, including the scorer's smoothing so a restart continues causally.
        """
        CREATE TABLE model(
            machine TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL,
            trigger TEXT NOT NULL, parent_version INTEGER,
            train_from INTEGER NOT NULL, train_to INTEGER NOT NULL, row_count INTEGER NOT NULL,
            content_sha256 TEXT NOT NULL, sensors TEXT NOT NULL, parameters TEXT NOT NULL,
            code_version TEXT NOT NULL, metrics TEXT NOT NULL,
            gate_decision TEXT NOT NULL, gate_reason TEXT NOT NULL, body TEXT NOT NULL,
            PRIMARY KEY(machine, version)
        );
        CREATE TABLE machine_health(
            machine TEXT PRIMARY KEY, active_version INTEGER,
            commission_from INTEGER NOT NULL DEFAULT 0, scored_through INTEGER NOT NULL DEFAULT 0,
            health REAL, status TEXT, confidence REAL NOT NULL DEFAULT 0, updated_at INTEGER,
            contributors TEXT NOT NULL DEFAULT '[]', scorer_state TEXT,
            commissioning_rows INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE health_history(
            machine TEXT NOT NULL, ts INTEGER NOT NULL, health REAL NOT NULL, status TEXT NOT NULL,
            confidence REAL NOT NULL, model_version INTEGER NOT NULL, anomaly REAL NOT NULL,
            PRIMARY KEY(machine, ts)
        ) WITHOUT ROWID;
        CREATE TABLE maintenance(id INTEGER PRIMARY KEY, machine TEXT NOT NULL, at INTEGER NOT NULL, note TEXT NOT NULL);
        """,
        // v4: each series' largest timestamp, kept by the writer, so the fleet overview reads one
        // row per series instead of seeking every series' readings.
        """
        ALTER TABLE series ADD COLUMN last_ts INTEGER NOT NULL DEFAULT 0;
        UPDATE series SET last_ts = coalesce((SELECT max(ts) FROM reading WHERE series_id = series.id), 0);
        """,
        // v5: a per-series counter bumped in every transaction that changes the series' minute
        // rollups (passes, rebuilds, retention), so rendered series can be cached and checked
        // for freshness with one row read, even against another process's rebuild.
        """
        ALTER TABLE series ADD COLUMN rollup_gen INTEGER NOT NULL DEFAULT 0;
        """,
        // v6: sealed history (docs/storage.md). A series' readings of a span past
        // `storage.seal_after` move from `reading` into one compressed chunk (VigilCodec).
        // id = series_id << 32 | start hour, so a series' chunks are one rowid range in time order.
        // `chunk` is what readers and totals need; the blob lives apart in `chunk_data`, so
        // scanning the metadata never reads a blob. `minute_chunk` holds a series' minute
        // rollups of a whole UTC day the same way (id = series_id << 32 | day number).
        """
        CREATE TABLE chunk(
            id INTEGER PRIMARY KEY,
            first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL,
            count INTEGER NOT NULL, bytes INTEGER NOT NULL
        );
        CREATE TABLE chunk_data(id INTEGER PRIMARY KEY, data BLOB NOT NULL);
        CREATE TABLE minute_chunk(id INTEGER PRIMARY KEY, buckets INTEGER NOT NULL, data BLOB NOT NULL);
        """,
        // v7: loss accounting from the devices' sequence numbers, one `SequenceTracker` per series,
        // written in the transaction of the readings it has seen (README, "Loss accounting"), and
        // the missing readings per minute they would have fallen in (`SequenceTracker.minutesOfGap`).
        """
        CREATE TABLE series_quality(
            series_id INTEGER PRIMARY KEY, highest INTEGER, highest_ts INTEGER NOT NULL,
            missing INTEGER NOT NULL, duplicates INTEGER NOT NULL, late INTEGER NOT NULL, restarts INTEGER NOT NULL,
            gaps TEXT NOT NULL
        );
        CREATE TABLE loss_minute(
            series_id INTEGER NOT NULL, minute INTEGER NOT NULL, missing INTEGER NOT NULL,
            PRIMARY KEY(series_id, minute)
        ) WITHOUT ROWID;
        """,
        // v8: what operators are told (`Event`), in the order it happened to the store, and per
        // notification sink how far it has delivered (advanced only after the receiver's 2xx).
        """
        CREATE TABLE event(
            id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL, machine TEXT, body TEXT NOT NULL
        );
        CREATE INDEX event_machine ON event(machine, kind, id);
        CREATE TABLE notify_cursor(
            sink TEXT PRIMARY KEY, last_event INTEGER NOT NULL, failures INTEGER NOT NULL DEFAULT 0, last_error TEXT
        );
        """,
        // v9: the upstream outbox (docs/scale-out.md). `upstream_change` lists the keys whose rows
        // changed, written in the transaction of the change (only for streams a sink sends); each
        // sink's cursor per stream moves only after the cluster's 2xx. AUTOINCREMENT: a sequence
        // never goes back (it is the rows' `rev` upstream), even after the log is pruned empty.
        """
        CREATE TABLE upstream_change(
            seq INTEGER PRIMARY KEY AUTOINCREMENT, stream INTEGER NOT NULL,
            series_id INTEGER NOT NULL DEFAULT 0, machine TEXT, t INTEGER NOT NULL, at INTEGER NOT NULL
        );
        CREATE INDEX upstream_change_stream ON upstream_change(stream, seq);
        CREATE TABLE upstream_cursor(
            sink TEXT NOT NULL, stream TEXT NOT NULL, last_seq INTEGER NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            PRIMARY KEY(sink, stream)
        );
        """,
        // v10: sensor faults (docs/health.md "Sensor faults"). `sensor_condition` is each judged
        // sensor's current state for the API and metrics; `machine_health.sensor_detector` the
        // detector's profiles and running state, so a restart continues where it stopped.
        """
        CREATE TABLE sensor_condition(
            machine TEXT NOT NULL, sensor TEXT NOT NULL, state TEXT NOT NULL, fault TEXT, cadence_ms INTEGER,
            PRIMARY KEY(machine, sensor)
        ) WITHOUT ROWID;
        ALTER TABLE machine_health ADD COLUMN sensor_detector TEXT;
        """,
        // v11: Sparkplug B host sessions (docs/sparkplug.md), one per edge node as canonical JSON
        // (`SparkplugHost.Node`: births' aliases, seq, bdSeq, loss counts), and what is known of a
        // sensor beside its readings, per source (`device`: a birth's engineering unit and range;
        // `api`: an operator's PUT; the config's `[[sensors]]` rules are laid under them when read).
        """
        CREATE TABLE sparkplug_node(
            grp TEXT NOT NULL, edge TEXT NOT NULL, state TEXT NOT NULL, updated_at INTEGER NOT NULL,
            PRIMARY KEY(grp, edge)
        ) WITHOUT ROWID;
        CREATE TABLE sensor_metadata(
            machine TEXT NOT NULL, sensor TEXT NOT NULL, source TEXT NOT NULL,
            unit TEXT, description TEXT, min REAL, max REAL, step REAL, updated_at INTEGER NOT NULL,
            PRIMARY KEY(machine, sensor, source)
        ) WITHOUT ROWID;
        """,
        // v12: the site's settings the stored data depends on: `timezone`, the zone the day
        // rollups are cut in (absent: UTC, as every store before it).
        """
        CREATE TABLE site_setting(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        """,
        // v13: the row table split into one table per 6-hour span, keyed time first (10-s slot, series, ts);
        // `reading` becomes a view of them all (`RowTable.splitLegacyTable`, in `followUps`).
        "",
        // v14: the rollup to-do list keyed time first, like the rows: a pass takes the oldest
        // minutes of every series together (their rows share pages in the time-first row tables;
        // series by series, a backlog of a month read every row page once per series), and a
        // live plant's marks land at the table's end.
        """
        CREATE TABLE rollup_dirty_v14(
            minute INTEGER NOT NULL, series_id INTEGER NOT NULL,
            first_mark INTEGER NOT NULL, last_mark INTEGER NOT NULL,
            PRIMARY KEY(minute, series_id)
        ) WITHOUT ROWID;
        INSERT INTO rollup_dirty_v14(minute, series_id, first_mark, last_mark)
            SELECT minute, series_id, first_mark, last_mark FROM rollup_dirty;
        DROP TABLE rollup_dirty;
        ALTER TABLE rollup_dirty_v14 RENAME TO rollup_dirty;
        """,
        // v15: the span tables keyed by one integer (slot, series, time in the slot: a rowid table,
        // whose pages SQLite packs full as a commit appends), their 10-s slots beginning 2 s past
        // the 10 s where live commits fall, so a commit fills one slot whole (`RowTable.rekey`, in
        // `followUps`).
        "",
        // v16: a machine's scorer and sensor-judge states in a table of their own, saved at a
        // change and every half hour of scored minutes (`stateThrough`); `machine_health`, rewritten
        // every scored minute, keeps the small current state (the states' overflow pages were most
        // of health's writes).
        """
        CREATE TABLE health_state(
            machine TEXT PRIMARY KEY, through INTEGER NOT NULL, scorer_state BLOB, sensor_detector BLOB
        );
        INSERT INTO health_state(machine, through, scorer_state, sensor_detector)
            SELECT machine, scored_through, scorer_state, sensor_detector FROM machine_health
            WHERE scorer_state IS NOT NULL OR sensor_detector IS NOT NULL;
        ALTER TABLE machine_health DROP COLUMN scorer_state;
        ALTER TABLE machine_health DROP COLUMN sensor_detector;
        """,
        // v17: the health history in two tables, read as one view: each round's scored minutes
        // go to `health_history_recent`, keyed time first (the fleet's minute shares its pages),
        // and move every ten minutes to `health_history_kept`, keyed machine first for reading a
        // machine's history (a machine's ten minutes share a page: keyed machine first, every
        // scored minute had written a page a machine).
        """
        ALTER TABLE health_history RENAME TO health_history_kept;
        CREATE TABLE health_history_recent(
            ts INTEGER NOT NULL, machine TEXT NOT NULL, health REAL NOT NULL, status TEXT NOT NULL,
            confidence REAL NOT NULL, model_version INTEGER NOT NULL, anomaly REAL NOT NULL,
            PRIMARY KEY(ts, machine)
        ) WITHOUT ROWID;
        CREATE VIEW health_history AS
            SELECT machine, ts, health, status, confidence, model_version, anomaly FROM health_history_kept
            UNION ALL
            SELECT machine, ts, health, status, confidence, model_version, anomaly FROM health_history_recent;
        """,
        // v18: the minute and day rollups the same way (`RollupRows`): buckets from a horizon on
        // in `<table>_recent`, keyed time first (a pass's buckets of the fleet share pages), the
        // older in `<table>_kept`, keyed series first, read together through the view `<table>`.
        // What is there stays kept: the horizon starts just past it.
        splitRecent("rollup_minute") + splitRecent("rollup_day"),
        // v19: the span tables hold a row a series and 10-s slot, its readings in the chunk
        // format, instead of a row a reading (`RowTable.pack`, in `followUps`); the view `reading`
        // becomes `reading_slot`.
        "",
    ]

    /// v18's change to a rollup table: `<table>` becomes `<table>_kept`, beside a time-first
    /// `<table>_recent`, and a view of both; the horizon starts just past what is kept.
    private static func splitRecent(_ table: String) -> String {
        """
        ALTER TABLE \(table) RENAME TO \(table)_kept;
        CREATE TABLE \(table)_recent(
            start INTEGER NOT NULL, series_id INTEGER NOT NULL,
            count INTEGER NOT NULL, sum REAL NOT NULL, mean REAL NOT NULL, m2 REAL NOT NULL,
            min REAL NOT NULL, max REAL NOT NULL,
            PRIMARY KEY(start, series_id)
        ) WITHOUT ROWID;
        CREATE VIEW \(table) AS
            SELECT series_id, start, count, sum, mean, m2, min, max FROM \(table)_kept
            UNION ALL
            SELECT series_id, start, count, sum, mean, m2, min, max FROM \(table)_recent;
        INSERT INTO engine_state(key, value) SELECT '\(table)_recent_from', last + 1 FROM (SELECT max(start) AS last FROM \(table)_kept) WHERE last IS NOT NULL;

        """
    }

    /// What a migration's SQL cannot say alone, run right after it (by its index in `migrations`).
    static let followUps: [Int: @Sendable (SQLiteConnection) throws -> Void] = [12: RowTable.splitLegacyTable, 14: RowTable.rekey, 18: RowTable.pack]

    /// The schema version of the database at `path` and the one this build migrates it to; nil
    /// when there is no such file yet (or it is not a database).
    public static func versions(path: String) -> (stored: Int, current: Int)? {
        guard let db = try? SQLiteConnection(path: path, readOnly: true),
              let stored = try? db.query("PRAGMA user_version", row: { Int($0.int(0)) }).first else { return nil }
        return (stored, migrations.count)
    }

    static func migrate(_ db: SQLiteConnection) throws {
        let version = try db.query("PRAGMA user_version") { Int($0.int(0)) }.first ?? 0
        guard version < migrations.count else { return }
        try db.transaction {
            for (n, sql) in migrations.enumerated() where n >= version {
                try db.execute(sql)
                try followUps[n]?(db)
            }
            try db.execute("PRAGMA user_version = \(migrations.count)")
        }
    }

    /// WAL: readers never block the writer. `synchronous=NORMAL`: a commit survives a crash or
    /// kill of the process (its WAL frames reach the kernel before COMMIT returns), the same
    /// promise as the ingest journal in front of it (docs/durability.md).
    ///
    /// No auto-vacuum: it costs ingestion about a tenth of its CPU (pointer-map pages kept on every
    /// page allocation), and in steady state the pages sealing frees are reused by new rows.
    /// After a bulk conversion `vigild --seal` gives the space back once (`StoreWriter.compact`).
    ///
    /// Pages of 1 KB (a new database; a WAL database keeps the page size it was made with): a
    /// commit writes whole pages, and most of what a live plant's commit changes is a few rows at
    /// the end of a table or in its middle (the rows' last slot, the newest rollups, the series'
    /// newest times, the rollup marks) — a 4 KB page rewritten for a hundred bytes. Measured at a
    /// live plant's pace (`Benchmarks/write_sources.py`): 27.8 → 20.6 B a reading in all, the
    /// SQLite part 20.1 → 12.1; batched ingest and reads unchanged within the noise. A checkpoint
    /// stays every 4 MB of WAL (4,096 pages), where SQLite's default (1,000 pages) would write
    /// the pages rewritten meanwhile into the file four times as often.
    static func configure(_ db: SQLiteConnection) throws {
        try db.execute("PRAGMA page_size=1024")
        try db.execute("PRAGMA journal_mode=WAL")
        let pageSize = try db.query("PRAGMA page_size") { Int($0.int(0)) }.first ?? 4096
        try db.execute("PRAGMA wal_autocheckpoint=\((4 << 20) / pageSize)")
        try db.execute("PRAGMA synchronous=NORMAL")
        try db.execute("PRAGMA foreign_keys=ON")
    }
}
