#include <omp.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include "gemm.h"
using namespace minitorch_clf::gemm;
static float* alloc(size_t n){ return (float*)std::aligned_alloc(64,(n*4+63)/64*64);}
int main(int argc,char**argv){
  const long B=argc>1?atol(argv[1]):1024, I=784, O=128; const int which=argc>2?atoi(argv[2]):0; const int iters=argc>3?atoi(argv[3]):2000;
  std::mt19937 g(1); std::uniform_real_distribution<float> u(-1,1);
  float *x=alloc(B*I),*w=alloc(O*I),*h=alloc(B*O),*dz=alloc(B*O),*dw=alloc(O*I);
  for(long i=0;i<B*I;++i)x[i]=u(g); for(long i=0;i<O*I;++i)w[i]=u(g); for(long i=0;i<B*O;++i)dz[i]=u(g);
  if(!cpu_runs(Bf16Kernel::kAmx)) {printf("no amx\n"); return 1;}
  set_default_format(Format::kBf16); set_bf16_kernel(Bf16Kernel::kAmx);
  auto t0=std::chrono::steady_clock::now();
  for(int it=0;it<iters;++it){
    if(which==0) sgemm(B,O,I,{x,I,1},{w,1,I},h,O);
    else sgemm(O,I,B,{dz,1,O},{x,I,1},dw,I);
  }
  double s=std::chrono::duration<double>(std::chrono::steady_clock::now()-t0).count()/iters;
  printf("%s B %ld: %.1f us, %.0f GFLOP/s\n", which?"dW":"fwd", B, s*1e6, 2.0*B*I*O/s/1e9);
}
