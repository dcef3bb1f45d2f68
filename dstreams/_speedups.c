/* Compiled inner loops of dstreams.partitions (used where built; the Python forms stay the reference).
 *
 * combine(acc, iterator, create, merge) folds (key, value) pairs from `iterator` into the dict `acc`:
 * for a new key acc[key] = create(value) (the value itself when create is None), otherwise
 * acc[key] = merge(old, value) (old + value when merge is None). It stops at the end of the
 * iterator and returns None, or at an item that is not a 2-tuple and returns (item,) so that the
 * caller handles that one item (unpacking it as Python does, or raising the error) and calls again
 * with the same iterator. Errors of the iterator, of hashing and of create/merge propagate.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *
combine(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "combine() takes 4 arguments");
        return NULL;
    }
    PyObject *acc = args[0], *it = args[1], *create = args[2], *merge = args[3];
    if (!PyDict_Check(acc) || !PyIter_Check(it)) {
        PyErr_SetString(PyExc_TypeError, "combine() needs a dict and an iterator");
        return NULL;
    }
    if (create == Py_None)
        create = NULL;
    if (merge == Py_None)
        merge = NULL;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
            PyObject *left = PyTuple_Pack(1, item);
            Py_DECREF(item);
            return left;
        }
        PyObject *key = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
        PyObject *old = PyDict_GetItemWithError(acc, key); /* borrowed */
        PyObject *now;
        if (old == NULL) {
            if (PyErr_Occurred()) {
                Py_DECREF(item);
                return NULL;
            }
            now = create ? PyObject_CallOneArg(create, value) : Py_NewRef(value);
        } else {
            Py_INCREF(old); /* merge may run code that changes acc */
            if (merge)
                now = PyObject_CallFunctionObjArgs(merge, old, value, NULL);
            else
                now = PyNumber_Add(old, value);
            Py_DECREF(old);
        }
        if (now == NULL || PyDict_SetItem(acc, key, now) < 0) {
            Py_XDECREF(now);
            Py_DECREF(item);
            return NULL;
        }
        Py_DECREF(now);
        Py_DECREF(item);
    }
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"combine", (PyCFunction)(void (*)(void))combine, METH_FASTCALL,
     "combine(acc, iterator, create, merge) -> None at the end, or (item,) for an item that is not a 2-tuple"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, 0, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
