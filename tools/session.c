/*
 * session.c — how the tool opens its database, so that looking never changes anything.
 *
 * A session starts with a read-only open (inmem_options.read_only): it replays the log into
 * memory, takes no lock, creates nothing and changes no file — a torn tail is reported, not cut;
 * a directory that holds no database stays as it is. Every inspection command (get, list, run
 * list, stats, info, verify, dump, ...) runs on that view. The first command that writes (or
 * `begin`, since a transaction may write) closes it and opens the directory for writing; that
 * open takes the lock, creates the database if the directory is new or empty (never in a
 * non-empty directory that holds no database, and never with --no-create), and cuts a torn tail.
 * Whatever it cuts is said on stderr, with the file, the offset, the bytes and the transactions,
 * so that no writable open drops anything quietly. With --read-only the session never reopens:
 * writes are refused. With durability none there are no files: the session is writable at once.
 *
 * The shell opens at its start (for its banner); a script opens at its first command that
 * needs the database, and when that command writes it opens for writing at once, so that a
 * script that only writes replays the log once.
 *
 * States of a session (c->db, c->writable):
 *   read-only view   db set, writable 0      session_start(); restored after a failed upgrade
 *   writable         db set, writable 1      session_writable(), session_reopen() (repair)
 *   a newer view     db set, writable 0      session_refresh() (wait, to see another process's
 *                                            commits)
 *   no database      db NULL, open_rc set    INMEM_NOTFOUND: nothing there yet (a write creates
 *                                            it); INMEM_ECORRUPT: see the repair command
 * A read-only view is the committed state when it was opened: another process may write the
 * directory meanwhile (when it is not live, the view is exactly what a writable open will find,
 * torn tail aside).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_open(cli *c, const inmem_options *o, inmem_db **out)
{
    spinner *s = o->durability != INMEM_DURABILITY_NONE ? spinner_start(c, "opening") : NULL;
    int rc = inmem_db_open(c->dir, o, out);
    spinner_stop(s);
    return rc;
}

const char *cli_open_message(int rc)
{
    /* every failing open sets the details (a repeated failure sets the same text again, so
     * the "new since the mark" test of cli_lib_message() does not apply) */
    const char *msg = inmem_errmsg(), *desc = inmem_strerror(rc);
    size_t dl = strlen(desc);
    return strncmp(msg, desc, dl) == 0 && msg[dl] == ':' ? msg : desc;
}

/* Opens with @p o into c->db; on failure c->db is NULL and open_rc/open_err say why. */
static int open_into(cli *c, const inmem_options *o)
{
    cli_mark_errmsg(c);
    int rc = cli_open(c, o, &c->db);
    if (rc) {
        c->db = NULL;
        c->writable = 0;
        c->open_rc = rc;
        snprintf(c->open_err, sizeof c->open_err, "%s", cli_open_message(rc));
        return rc;
    }
    c->writable = !o->read_only;
    c->open_rc = 0;
    c->open_err[0] = '\0';
    return 0;
}

const char *session_open_detail(cli *c)
{
    const char *desc = inmem_strerror(c->open_rc);
    size_t dl = strlen(desc);
    if (strncmp(c->open_err, desc, dl) == 0 && c->open_err[dl] == ':' && c->open_err[dl + 1] == ' ')
        return c->open_err + dl + 2;
    return c->open_err;
}

static const char *where(cli *c)
{
    return c->dir ? fmt_path(c->dir) : "(memory)";
}

void session_report_cuts(cli *c, const inmem_recovery_info *r)
{
    char b[48];
    if (r->torn_tail)
        cli_warn(c,
                 "%s: the log ended in a torn record (an interrupted write): cut %s at offset "
                 "%llu, dropping %s of an incomplete transaction%s",
                 where(c), r->tail_file, (unsigned long long)r->tail_offset,
                 fmt_bytes(r->tail_bytes, b),
                 r->txns_discarded > 1 ? " (and more incomplete transactions)" : "");
    else if (r->txns_discarded)
        cli_warn(c,
                 "%s: %llu incomplete transaction%s (no commit record) at the end of the log "
                 "discarded",
                 where(c), (unsigned long long)r->txns_discarded,
                 r->txns_discarded == 1 ? " was" : "s were");
    int image = strncmp(r->repair_file, "ckpt-", 5) == 0; /* a repair of a checkpoint image */
    char txns[96];
    if (r->repaired && !image)
        cli_warn(c,
                 "%s: REPAIRED a corrupt log: cut %s at offset %llu, dropping %s "
                 "that held %s%s; later segments, if any, were renamed *.dropped (" DROPPED_NOTE
                 ")%s",
                 where(c), r->repair_file, (unsigned long long)r->repair_offset,
                 fmt_bytes(r->bytes_dropped, b), fmt_exactly(r->txns_dropped),
                 fmt_count(r->txns_dropped, "committed transaction", txns),
                 r->version == 0 && r->checkpoint_version == 0
                     ? "; nothing was kept: the database is empty (version 0)"
                     : "");
    char keys[96];
    if (r->repaired && image)
        cli_warn(c,
                 "%s: REPAIRED a damaged checkpoint image (%s, damaged at offset %llu): its "
                 "intact part was loaded; %s that no log covers %s lost; the damaged image is "
                 "kept as %s.dropped (" DROPPED_NOTE ")",
                 where(c), r->repair_file, (unsigned long long)r->repair_offset,
                 fmt_count(r->keys_dropped, "key", keys), r->keys_dropped == 1 ? "was" : "were",
                 r->repair_file);
    if (r->checkpoint_fallback)
        cli_warn(c,
                 "%s: the newest checkpoint image was damaged: recovered from an older one and "
                 "the log (nothing lost); the damaged image was renamed *.dropped (" DROPPED_NOTE
                 ")",
                 where(c));
    if (r->records_skipped)
        cli_warn(c, "%s: %llu log record%s of an unknown type skipped (written by a newer inmem?)",
                 where(c), (unsigned long long)r->records_skipped,
                 r->records_skipped == 1 ? "" : "s");
}

/* After a writable open: what it cut, and (in the shell) that it created the database. */
static void after_writable_open(cli *c)
{
    inmem_recovery_info r;
    if (!c->dir || inmem_db_recovery(c->db, &r) != 0)
        return;
    session_report_cuts(c, &r);
    if (r.created && c->interactive)
        fprintf(stderr, "note: created a new inmem database in %s\n", fmt_path(c->dir));
}

int session_start(cli *c)
{
    inmem_options o = c->opts;
    c->started = 1;
    if (o.durability == INMEM_DURABILITY_NONE || (o.repair && !o.read_only)) {
        /* no files to protect, or an explicit request to repair: writable at once */
        o.read_only = 0;
        int rc = open_into(c, &o);
        if (rc == INMEM_ECORRUPT || rc == INMEM_NOTFOUND)
            return 0;
        if (rc)
            return rc;
        after_writable_open(c);
        return 0;
    }
    o.read_only = 1; /* o.repair with --read-only: a salvage view of a corrupt log */
    int rc = open_into(c, &o);
    if (rc == INMEM_ECORRUPT || rc == INMEM_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    inmem_recovery_info r;
    char txns[96];
    if (o.repair && inmem_db_recovery(c->db, &r) == 0 && r.repaired)
        cli_warn(c,
                 "%s: the log is corrupt: showing the intact part (read-only, nothing changed); "
                 "a repair would cut %s at offset %llu, dropping %llu bytes that hold %s%s",
                 where(c), r.repair_file, (unsigned long long)r.repair_offset,
                 (unsigned long long)r.bytes_dropped, fmt_exactly(r.txns_dropped),
                 fmt_count(r.txns_dropped, "committed transaction", txns));
    return 0;
}

int session_writable(cli *c, const char *cmdname)
{
    c->started = 1;
    if (c->writable)
        return CMD_OK;
    if (c->opts.read_only)
        return cli_error(c, "%s: the database is open read-only (--read-only)", cmdname);
    if (c->txn) /* `begin` opens for writing, so a transaction is never on a read-only view */
        return cli_error(c, "%s: the transaction was begun read-only: abort it first", cmdname);
    int had_view = c->db != NULL;
    if (c->db) {
        int rc = inmem_db_close(c->db);
        c->db = NULL;
        if (rc)
            return cli_lib_error(c, rc, "%s: closing the read-only view", cmdname);
    }
    inmem_options o = c->opts;
    o.read_only = 0;
    o.repair = 0;
    if (open_into(c, &o) == 0) {
        after_writable_open(c);
        return CMD_OK;
    }
    char why[sizeof c->open_err];
    int why_rc = c->open_rc;
    snprintf(why, sizeof why, "%s", c->open_err);
    if (had_view) { /* keep inspecting what we could */
        o.read_only = 1;
        open_into(c, &o);
    } else {
        c->open_rc = why_rc;
        snprintf(c->open_err, sizeof c->open_err, "%s", why);
    }
    if (why_rc == INMEM_NOTFOUND && !c->opts.create_if_missing)
        return cli_error(c, "%s: cannot open %s for writing: %s (and --no-create was given)",
                         cmdname, where(c), why);
    if (why_rc == INMEM_ECORRUPT)
        return cli_error(c, "%s: cannot open %s for writing: %s; the `repair` command may fix it",
                         cmdname, where(c), why);
    return cli_error(c, "%s: cannot open %s for writing: %s", cmdname, where(c), why);
}

int session_refresh(cli *c)
{
    inmem_options o = c->opts;
    o.read_only = 1; /* (repair with --read-only: the salvage view again) */
    return session_reopen(c, &o);
}

int session_reopen(cli *c, const inmem_options *o)
{
    if (c->db) {
        int rc = inmem_db_close(c->db);
        c->db = NULL;
        c->writable = 0;
        if (rc) {
            c->open_rc = rc;
            snprintf(c->open_err, sizeof c->open_err, "closing: %s", inmem_strerror(rc));
            return rc;
        }
    }
    return open_into(c, o);
}
