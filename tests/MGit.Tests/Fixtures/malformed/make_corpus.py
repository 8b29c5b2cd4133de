"""Writes the malformed-model corpus (run once by hand; the tests only read the files).

Every file here must be refused by `mgit add` with a one-line error and the repository unchanged.
Nothing in this script needs torch; the hostile pickles are built with the standard pickle module
and are never loaded.
"""
import io, os, pickle, struct, zipfile, collections

HERE = os.path.dirname(os.path.abspath(__file__))

def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)

def gguf(meta=b"", n_meta=0, tensors=b"", n_tensors=0, data=b"", version=3):
    head = b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_meta) + meta + tensors
    head += b"\0" * (-len(head) % 32)
    return head + data

def s(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b

def tinfo(name, dims, type_id, offset):
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", type_id, offset)

valid = gguf(s("general.name") + struct.pack("<I", 8) + s("x"), 1, tinfo("t", [32, 2], 8, 0), 1, bytes(68))
write("gguf-truncated.gguf", valid[:-10])
write("gguf-lying-tensor-count.gguf", valid[:8] + struct.pack("<Q", 1 << 62) + valid[16:])
write("gguf-lying-string-length.gguf", valid[:24] + struct.pack("<Q", (1 << 63) - 1) + valid[32:])
write("gguf-offset-outside-data.gguf", gguf(b"", 0, tinfo("t", [8], 0, 1 << 40), 1, bytes(32)))
write("gguf-dims-overflow.gguf", gguf(b"", 0, tinfo("t", [1 << 62, 1 << 62, 16], 0, 0), 1, bytes(32)))
write("gguf-unknown-type.gguf", gguf(b"", 0, tinfo("t", [32], 200, 0), 1, bytes(32)))
write("gguf-nested-array-bomb.gguf", gguf(s("a") + struct.pack("<I", 9) + (struct.pack("<IQ", 9, 1) * 40), 1))

class Evil:
    def __init__(self, module, name, arg):
        self.module, self.name, self.arg = module, name, arg
    def __reduce__(self):
        import importlib
        return (getattr(importlib.import_module(self.module), self.name), (self.arg,))

def checkpoint(pkl, members=()):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        for name, data in members:
            z.writestr(name, data)
        z.writestr("archive/version", "3\n")
    return out.getvalue()

marker = "/tmp/mgit-corpus-executed"
write("pickle-os-system.pt", checkpoint(pickle.dumps(Evil("os", "system", "touch " + marker), protocol=2)))
write("pickle-builtins-exec.pt", checkpoint(pickle.dumps(Evil("builtins", "exec", "open('%s','w')" % marker), protocol=4)))
write("pickle-subprocess.pth", checkpoint(pickle.dumps(Evil("subprocess", "getoutput", "touch " + marker), protocol=2)))
# A pickled object that is not a state dict (collections.Counter) is no longer malformed: its
# globals are kept uninterpreted (PyTorchTests.A_checkpoint_of_a_plain_python_object_is_kept_and_says_what_it_did_not_interpret).
write("zip-truncated.pt", checkpoint(pickle.dumps({}, protocol=2))[:-30])
write("zip-directory-offset-lies.pt", (lambda b: b[:-6] + struct.pack("<I", len(b) * 4) + b[-2:])(checkpoint(pickle.dumps({}, protocol=2))))

# Found by the mutation fuzzer (seed 7): names with line breaks made multi-line error messages.
write("gguf-newline-in-duplicate-key.gguf", gguf(s("a\nmgit: fake") + struct.pack("<I", 8) + s("x") + s("a\nmgit: fake") + struct.pack("<I", 8) + s("y"), 2))
write("pickle-newline-in-global.pt", checkpoint(b"\x80\x02cos\nsystem\r\nfake\n."))
