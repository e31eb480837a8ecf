"""Django's SQLite backend, with every transaction waiting its turn for the one writer.

The pages and the tracking API queue for SQLite's writer on a lock (`database.write_together`);
every other writer (the worker sending follow-ups, the dashboard, a command) began its
transaction straight away, and when it found the file locked SQLite's busy handler put it to
sleep, or put the pages' writer to sleep behind it: the long tail of the demo's walk. Here a
transaction takes the writer's turn before its BEGIN IMMEDIATE and gives it back at COMMIT or
ROLLBACK, so writers of every kind queue in one line and wake the moment the last one is done.
"""

from django.db.backends.sqlite3 import base

from yesladder import database


class DatabaseWrapper(base.DatabaseWrapper):
    _has_the_turn = False  # per connection, so per thread

    def _start_transaction_under_autocommit(self):
        database.take_the_writers_turn()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            database.give_the_writers_turn_back()
            raise
        self._has_the_turn = True

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._give_the_turn_back()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._give_the_turn_back()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._give_the_turn_back()

    def _give_the_turn_back(self) -> None:
        if self._has_the_turn:
            self._has_the_turn = False
            database.give_the_writers_turn_back()
