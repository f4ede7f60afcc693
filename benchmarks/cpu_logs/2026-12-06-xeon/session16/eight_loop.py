"""The same eight products, on the same tensors in one process: as a C loop of gemm::sgemm calls (eight_loop.cpp
through ctypes; its outputs kept, or new each call) and as the op mlp_products (the "all eight" row of bench
--gemm: one op call from Python, its outputs new tensors). Best of 50-call blocks over 2 s each. Run with
MINITORCH_CLF_TUNE=0 so that both run the derived plans.
    MINITORCH_CLF_TUNE=0 python eight_loop.py BATCH"""
import ctypes, torch, time, sys
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
lib = ctypes.CDLL('/tmp/eight_loop.so'); lib.eight.restype = ctypes.c_double
lib.eight.argtypes=[ctypes.c_double, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p), ctypes.c_long, ctypes.c_int]
B=int(sys.argv[1])
_, (acts, weights, dzs) = tune.step_products(B, (784,128,64,10))
ptrs=(ctypes.c_void_p*9)(*[t.data_ptr() for t in list(acts)+list(weights)+list(dzs)])
outs=ops.mlp_products(acts, weights, dzs, "own")
op=(ctypes.c_void_p*8)(*[t.data_ptr() for t in outs])
def py(secs=2):
    f=lambda: ops.mlp_products(acts, weights, dzs, "own")
    best=1e9; t0=time.perf_counter()
    while time.perf_counter()-t0<secs:
        a=time.perf_counter()
        for _ in range(50): f()
        best=min(best,(time.perf_counter()-a)/50)
    return best*1e6
for i in range(3):
    print(f"C loop, torch's tensors, own outputs {lib.eight(2, ptrs, op, B, 0):.1f}  fresh {lib.eight(2, ptrs, op, B, 1):.1f}   mlp_products {py():.1f}")
