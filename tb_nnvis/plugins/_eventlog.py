"""An event-file writer that loses nothing it can keep: full disks, vanished logdirs, crashes.

TensorFlow's own summary writer fails silently in two cases that long training runs meet: when the disk
fills up it leaves a partial record in the middle of the file and goes on appending after it (readers stop
at the broken record, so everything after it is lost too), and when the log directory is deleted it goes
on writing into the deleted file. :class:`EventLog` writes the same records (TFRecord framing through
``tf.io.TFRecordWriter``, so any ``tf.io.gfile`` filesystem works: local, ``gs://``, ``ram://``) and:

- keeps every record until it is known to be in a file that still exists: after each flush it checks
  that its file is still there, and writes what it kept to a new file if not;
- on a write error (disk full, permission, network) cuts the partial record off a local file, warns once,
  keeps the records in memory (up to ``max_pending_bytes``) and writes them to a new file at the next
  flush that succeeds, so writing resumes by itself when space comes back;
- is shared: every tb_nnvis callback of a process that writes to the same run directory uses one
  ``EventLog`` (:func:`open_log`), so the run has one event file at a time, as TensorBoard's loaders expect.

>>> import tempfile, time
>>> from tensorboard.compat.proto import summary_pb2
>>> log = open_log(tempfile.mkdtemp())
>>> s = summary_pb2.Summary()
>>> _ = s.value.add(tag="x", simple_value=1.0)
>>> log.write(s, step=3)
>>> log.flush()
True
>>> release(log)
"""
import logging
import os
import socket
import threading
import time

from tensorboard.compat.proto import event_pb2

logger = logging.getLogger("tb_nnvis")

_FILE_VERSION = "brain.Event:2"


class EventLog:
    """One run directory's event file, written safely (see the module docstring). Thread-safe."""

    def __init__(self, logdir, max_pending_bytes=256 << 20):
        self.logdir = str(logdir)
        self.max_pending_bytes = max_pending_bytes
        self.path = None
        self.lost_records = 0
        self._writer = None
        self._good_size = 0      # bytes of the current (local) file known to hold whole records
        self._pending = []       # serialized events since the last check that the file still exists
        self._pending_bytes = 0
        self._unflushed = []     # serialized events not yet handed to a file
        self._failing = False
        self._counter = 0
        self._lock = threading.RLock()

    def write(self, summary, step, wall_time=None):
        """Queue one ``Summary`` proto at ``step``; it reaches the file at the next :meth:`flush`."""
        event = event_pb2.Event(step=int(step), wall_time=time.time() if wall_time is None else wall_time,
                                summary=summary)
        with self._lock:
            self._keep(event.SerializeToString())

    def flush(self):
        """Write what is queued and check that the file is still there. False while writing fails."""
        import tensorflow as tf

        with self._lock:
            if self._writer is None and not self._unflushed:
                return not self._failing  # nothing written yet: no empty event file
            try:
                if self._writer is None:
                    self._open(tf)
                for record in self._unflushed:
                    self._writer.write(record)
                self._writer.flush()
                self._unflushed = []
                self._note_size(tf)
                if not tf.io.gfile.exists(self.path):
                    raise FileNotFoundError(f"{self.path} disappeared (was the log directory deleted?)")
            except (OSError, tf.errors.OpError) as e:
                self._fail(e)
                return False
            self._pending, self._pending_bytes = [], 0
            if self._failing:
                logger.warning("tb_nnvis: writing summaries to %s again (now %s)", self.logdir, self.path)
                self._failing = False
            return True

    def close(self):
        """Flush and close the file."""
        with self._lock:
            self.flush()
            if self._writer is not None:
                try:
                    self._writer.close()
                except Exception:  # noqa: BLE001 - closing a broken file must not raise
                    pass
                self._writer = None

    # ---- internals ----------------------------------------------------------------------------------

    def _keep(self, record):
        self._pending.append(record)
        self._unflushed.append(record)
        self._pending_bytes += len(record)
        while self._pending_bytes > self.max_pending_bytes and len(self._pending) > 1:
            dropped = self._pending.pop(0)
            self._pending_bytes -= len(dropped)
            if self._unflushed and self._unflushed[0] is dropped:
                self._unflushed.pop(0)
            self.lost_records += 1
            if self.lost_records == 1:
                logger.warning("tb_nnvis: more than %d MB of summaries could not be written to %s; dropping the "
                               "oldest", self.max_pending_bytes >> 20, self.logdir)

    def _open(self, tf):
        tf.io.gfile.makedirs(self.logdir)
        self._counter += 1
        name = "events.out.tfevents.%010d.%s.%d.%d.nnvis" % (time.time(), socket.gethostname(), os.getpid(),
                                                             self._counter)
        self.path = _join(self.logdir, name)
        self._writer = tf.io.TFRecordWriter(self.path)
        self._good_size = 0
        header = event_pb2.Event(wall_time=time.time(), file_version=_FILE_VERSION).SerializeToString()
        # Everything not yet known to be safe goes into the new file, in order.
        self._unflushed = [header] + self._pending

    def _note_size(self, tf):
        if _is_local(self.path):
            try:
                self._good_size = os.path.getsize(self.path)
            except OSError:
                pass

    def _fail(self, error):
        if not self._failing:
            logger.warning("tb_nnvis: could not write summaries to %s (%s: %s); training goes on, and they will "
                           "be written when the log directory can take them", self.logdir, type(error).__name__,
                           error)
        self._failing = True
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass
        # A partial record at the end of a local file would stop readers there: cut it off (and leave no
        # empty files behind while the disk stays full).
        if self.path and _is_local(self.path):
            try:
                if self._good_size == 0:
                    os.remove(self.path)
                elif os.path.getsize(self.path) > self._good_size:
                    os.truncate(self.path, self._good_size)
            except OSError:
                pass
        self._unflushed = list(self._pending)


def _is_local(path):
    return "://" not in path or path.startswith("file://")


def _join(directory, name):
    return directory.rstrip("/") + "/" + name if "://" in directory else os.path.join(directory, name)


_LOGS = {}
_LOGS_LOCK = threading.Lock()


def open_log(logdir):
    """The process's shared :class:`EventLog` for ``logdir`` (one event file per run at a time)."""
    key = str(logdir)
    with _LOGS_LOCK:
        entry = _LOGS.get(key)
        if entry is None:
            entry = _LOGS[key] = [EventLog(key), 0]
        entry[1] += 1
        return entry[0]


def release(log):
    """Give back a log from :func:`open_log`; the last user closes it."""
    with _LOGS_LOCK:
        entry = _LOGS.get(log.logdir)
        if entry is None or entry[0] is not log:
            log.close()
            return
        entry[1] -= 1
        last = entry[1] <= 0
        if last:
            del _LOGS[log.logdir]
    if last:
        log.close()
    else:
        log.flush()
