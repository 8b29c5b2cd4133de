"""Writes state-dict.pt (and state-dict-protocol4.pt) the way torch.save lays out a checkpoint, using CPython's own pickler
(protocol 2, memo, batched SETITEMS) with stand-in torch modules, since torch is not installed.
Run once by hand; the tests only read the files (FormatCorpusTests lists the expected tensors).
"""
import collections, io, os, pickle, random, struct, sys, types, zipfile

torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
def _rebuild_tensor_v2(*args): raise RuntimeError("never called")
_rebuild_tensor_v2.__module__ = "torch._utils"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
class FloatStorage: pass
class HalfStorage: pass
class LongStorage: pass
for c in (FloatStorage, HalfStorage, LongStorage):
    c.__module__ = "torch"; setattr(torch, c.__name__, c)

class Storage:
    def __init__(self, kind, size, data): self.kind, self.size, self.data = kind, size, data
class Tensor:
    def __init__(self, storage, offset, shape, stride): self.args = (storage, offset, shape, stride, False, collections.OrderedDict())
    def __reduce_ex__(self, proto): return (_rebuild_tensor_v2, self.args)

rng = random.Random(7)
def storage(kind, itemsize, n): return Storage(kind, n, bytes(rng.randrange(256) for _ in range(n * itemsize)))

shared = storage(FloatStorage, 4, 64)
state = collections.OrderedDict()
state["embed.weight"] = Tensor(shared, 0, (8, 8), (8, 1))
state["lm_head.weight"] = Tensor(shared, 0, (8, 8), (8, 1))
state["layer.0.weight"] = Tensor(storage(HalfStorage, 2, 48), 0, (6, 8), (8, 1))
state["layer.0.bias"] = Tensor(storage(FloatStorage, 4, 6), 0, (6,), (1,))
state["position_ids"] = Tensor(storage(LongStorage, 8, 10), 0, (1, 10), (10, 1))
state._metadata = collections.OrderedDict([("", {"version": 1})])

keys = {}
class Saver(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            key = keys.setdefault(id(obj), (str(len(keys)), obj))[0]
            return ("storage", obj.kind, key, "cpu", obj.size)
        return None

# Protocol 2 is torch.save's default; protocol 4 (torch.save(..., pickle_protocol=4)) adds FRAME,
# SHORT_BINUNICODE, MEMOIZE and STACK_GLOBAL.
for protocol, name in ((2, "state-dict.pt"), (4, "state-dict-protocol4.pt")):
    keys.clear()
    buf = io.BytesIO(); Saver(buf, protocol=protocol).dump(state)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("state-dict/data.pkl", buf.getvalue())
        z.writestr("state-dict/byteorder", "little")
        for key, s in keys.values():
            z.writestr("state-dict/data/" + key, s.data)
        z.writestr("state-dict/version", "3\n")
        z.writestr("state-dict/.data/serialization_id", "1234567890")
    open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name), "wb").write(out.getvalue())
