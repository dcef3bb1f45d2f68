/* The compiled fast path of dstreams.sources.kafka.decoder.decode_records.
 *
 * decode(record_type, buf, pos, count, topic, partition, leader_epoch, base_offset,
 *        first_timestamp, timestamp_type, max_timestamp)
 * decodes the `count` records of an uncompressed v2 batch body starting at buf[pos] into
 * `record_type` instances (kafka-python's ConsumerRecord namedtuple) and returns
 * (records, end position, size), exactly as the Python decode_records does.
 *
 * It handles only well-formed records without headers. For anything else (headers, a record
 * that does not add up, bytes that end inside a record, a varint or a sum that leaves 64 bits)
 * it returns None having built nothing that escapes, and the caller decodes the batch with the
 * Python code, which raises the right error or decodes the headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define N_FIELDS 13
#define LOG_APPEND_TIME 1

/* One zigzag varint at *pos (reading no byte at or past end); 0 if it runs out or overflows. */
static int
read_varint(const unsigned char *buf, Py_ssize_t end, Py_ssize_t *pos, int64_t *out)
{
    uint64_t value = 0;
    int shift = 0;
    Py_ssize_t p = *pos;
    for (;;) {
        if (p >= end)
            return 0;
        unsigned char b = buf[p++];
        if (shift == 63 && b > 1)
            return 0; /* more than 64 bits: the Python code decides */
        value |= (uint64_t)(b & 0x7F) << shift;
        if (b < 0x80)
            break;
        shift += 7;
        if (shift > 63)
            return 0;
    }
    *pos = p;
    *out = (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
    return 1;
}

static PyObject *
decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "decode() takes 11 arguments");
        return NULL;
    }
    PyObject *record_type = args[0], *bufobj = args[1], *topic = args[4];
    PyObject *partition = args[5], *leader_epoch = args[6], *timestamp_type = args[9];
    if (!PyType_Check(record_type) || !PyType_IsSubtype((PyTypeObject *)record_type, &PyTuple_Type)
        || ((PyTypeObject *)record_type)->tp_basicsize != PyTuple_Type.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "decode() needs a namedtuple type of records");
        return NULL;
    }
    if (!PyBytes_Check(bufobj)) {
        PyErr_SetString(PyExc_TypeError, "decode() needs bytes");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[2]);
    Py_ssize_t count = PyLong_AsSsize_t(args[3]);
    long long base_offset = PyLong_AsLongLong(args[7]);
    long long first_timestamp = PyLong_AsLongLong(args[8]);
    long long max_timestamp = PyLong_AsLongLong(args[10]);
    long ts_type = PyLong_AsLong(timestamp_type);
    if (PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        return NULL;
    }
    const unsigned char *buf = (const unsigned char *)PyBytes_AS_STRING(bufobj);
    Py_ssize_t end = PyBytes_GET_SIZE(bufobj);
    if (pos < 0 || count < 0 || pos > end)
        Py_RETURN_NONE;
    int append_time = ts_type == LOG_APPEND_TIME;
    PyTypeObject *type = (PyTypeObject *)record_type;

    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    long long size = 0;
    PyObject *minus_one = PyLong_FromLong(-1);
    if (minus_one == NULL)
        goto error;

    for (Py_ssize_t i = 0; i < count; i++) {
        int64_t length, ts_delta, offset_delta, key_size, value_size, n_headers;
        if (!read_varint(buf, end, &pos, &length))
            goto fallback;
        Py_ssize_t start = pos;
        pos += 1; /* attributes: int8, unused */
        if (!read_varint(buf, end, &pos, &ts_delta) || !read_varint(buf, end, &pos, &offset_delta))
            goto fallback;
        int64_t timestamp, offset;
        if (append_time)
            timestamp = max_timestamp;
        else if (__builtin_add_overflow((int64_t)first_timestamp, ts_delta, &timestamp))
            goto fallback;
        if (__builtin_add_overflow((int64_t)base_offset, offset_delta, &offset))
            goto fallback;
        if (!read_varint(buf, end, &pos, &key_size))
            goto fallback;
        Py_ssize_t key_at = pos;
        if (key_size >= 0) {
            if (key_size > end - pos)
                goto fallback;
            pos += key_size;
        }
        if (!read_varint(buf, end, &pos, &value_size))
            goto fallback;
        Py_ssize_t value_at = pos;
        if (value_size >= 0) {
            if (value_size > end - pos)
                goto fallback;
            pos += value_size;
        }
        if (!read_varint(buf, end, &pos, &n_headers) || n_headers != 0)
            goto fallback; /* headers (or a bad count): the Python code */
        if (pos - start != length)
            goto fallback;
        size += length;

        PyObject *rec = type->tp_alloc(type, N_FIELDS);
        if (rec == NULL)
            goto error;
        PyObject *key, *value, *headers, *o, *ts, *ks, *vs;
        key = key_size >= 0 ? PyBytes_FromStringAndSize((const char *)buf + key_at, key_size) : Py_NewRef(Py_None);
        value = value_size >= 0 ? PyBytes_FromStringAndSize((const char *)buf + value_at, value_size)
                                : Py_NewRef(Py_None);
        headers = PyList_New(0);
        o = PyLong_FromLongLong(offset);
        ts = PyLong_FromLongLong(timestamp);
        ks = key_size >= 0 ? PyLong_FromLongLong(key_size) : Py_NewRef(minus_one);
        vs = value_size >= 0 ? PyLong_FromLongLong(value_size) : Py_NewRef(minus_one);
        PyObject *items[N_FIELDS] = {
            Py_NewRef(topic), Py_NewRef(partition), Py_NewRef(leader_epoch), o, ts, Py_NewRef(timestamp_type),
            key, value, headers, Py_NewRef(Py_None), ks, vs, Py_NewRef(minus_one),
        };
        int failed = 0;
        for (int f = 0; f < N_FIELDS; f++) {
            if (items[f] == NULL)
                failed = 1;
            PyTuple_SET_ITEM(rec, f, items[f]); /* a NULL item is fine for dealloc */
        }
        if (failed) {
            Py_DECREF(rec);
            goto error;
        }
        if (PyList_Append(out, rec) < 0) {
            Py_DECREF(rec);
            goto error;
        }
        Py_DECREF(rec);
    }
    Py_DECREF(minus_one);
    return Py_BuildValue("(NnL)", out, pos, size);

fallback:
    Py_XDECREF(minus_one);
    Py_DECREF(out);
    Py_RETURN_NONE;
error:
    Py_XDECREF(minus_one);
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"decode", (PyCFunction)(void (*)(void))decode, METH_FASTCALL,
     "decode(record_type, buf, pos, count, topic, partition, leader_epoch, base_offset, first_timestamp, "
     "timestamp_type, max_timestamp) -> (records, end, size), or None to leave the batch to the Python decoder"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cdecoder", NULL, 0, methods};

PyMODINIT_FUNC
PyInit__cdecoder(void)
{
    return PyModule_Create(&module);
}
