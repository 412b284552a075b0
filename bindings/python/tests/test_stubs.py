"""The type stubs (inmem/__init__.pyi) describe the runtime: every public method of Database,
Transaction and Watch is in them with the same parameters, in the same order and of the same
kind (positional or keyword-only), and every name the module exports is declared."""
import ast
import inspect
import os

import inmem

STUB = os.path.join(os.path.dirname(inmem.__file__), "__init__.pyi")


def stub_classes():
    tree = ast.parse(open(STUB).read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods = {}
            for f in node.body:
                if isinstance(f, ast.FunctionDef):
                    a = f.args
                    params = [(x.arg, "pos") for x in a.posonlyargs + a.args][1:]
                    params += [(x.arg, "kw") for x in a.kwonlyargs]
                    if a.kwarg:
                        params.append((a.kwarg.arg, "kw"))
                    methods.setdefault(f.name, params)  # the first of an @overload group
            out[node.name] = ([b.id for b in node.bases if isinstance(b, ast.Name)], methods)
    return out


def runtime_params(f):
    out = []
    for p in list(inspect.signature(f).parameters.values())[1:]:
        if p.kind == p.VAR_KEYWORD:
            out.append((p.name, "kw"))
        else:
            out.append((p.name, "kw" if p.kind == p.KEYWORD_ONLY else "pos"))
    return out


def stub_methods(classes, name):
    bases, methods = classes[name]
    merged = {}
    for b in bases:
        if b in classes:
            merged.update(stub_methods(classes, b))
    merged.update(methods)
    return merged


def test_stub_signatures_match_runtime():
    classes = stub_classes()
    for cls in (inmem.Database, inmem.Transaction, inmem.Watch):
        stub = stub_methods(classes, cls.__name__)
        for name in dir(cls):
            if name.startswith("_"):
                continue
            attr = getattr(cls, name)
            if not callable(attr):
                assert name in stub or name in {n for n in dir(cls)}, name
                continue
            assert name in stub, "%s.%s is not in the stubs" % (cls.__name__, name)
            if name == "transactional":
                continue  # an overloaded decorator: checked by hand
            got, want = runtime_params(attr), stub[name]
            assert got == want, "%s.%s: runtime %s, stubs %s" % (cls.__name__, name, got, want)


def test_every_export_is_declared():
    text = open(STUB).read()
    for name in inmem.__all__:
        assert ("class %s" % name) in text or ("def %s(" % name) in text or \
            ("%s:" % name) in text, name


def test_every_stub_exists_at_runtime():
    # the other direction: whatever the stubs declare exists, with the same parameters (a
    # method only in the stubs, or a stale signature, is a lie to type checkers)
    classes = stub_classes()
    tree = ast.parse(open(STUB).read())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            assert hasattr(inmem, node.name), node.name
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            assert hasattr(inmem, node.target.id), node.target.id
    for name, (bases, methods) in classes.items():
        if name.startswith("_"):
            continue  # a stubs-only base class (the primitives shared by Database, Transaction)
        cls = getattr(inmem, name, None)
        assert isinstance(cls, type), "%s is in the stubs, not in the module" % name
        for m in stub_methods(classes, name):
            if m in ("__init__", "__new__"):
                continue
            assert hasattr(cls, m), "%s.%s is in the stubs, not at runtime" % (name, m)
            attr = getattr(cls, m)
            if (name in ("Database", "Transaction", "Watch") and callable(attr)
                    and not m.startswith("__") and m != "transactional"):
                assert runtime_params(attr) == stub_methods(classes, name)[m], (name, m)


def test_record_fields_match_the_stubs():
    # the NamedTuple classes of the stubs list the struct sequences' fields, in order
    import types
    tree = ast.parse(open(STUB).read())
    for node in tree.body:
        if not (isinstance(node, ast.ClassDef) and
                any(isinstance(b, ast.Name) and b.id == "NamedTuple" for b in node.bases)):
            continue
        cls = getattr(inmem, node.name)
        inst = cls(tuple(range(cls.n_fields)))
        by_index = {}
        for attr in dir(cls):
            if isinstance(getattr(cls, attr, None), types.MemberDescriptorType):
                by_index[getattr(inst, attr)] = attr
        runtime = [by_index[i] for i in range(cls.n_sequence_fields)]
        stub = [f.target.id for f in node.body if isinstance(f, ast.AnnAssign)]
        assert runtime == stub, (node.name, runtime, stub)
        for f in node.body:
            if isinstance(f, ast.FunctionDef):
                assert hasattr(cls, f.name), (node.name, f.name)
