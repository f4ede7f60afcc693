// Prototype: fc1's dW at batch B after fc1's forward, dW cut by columns vs by K (each thread its rows of x).
#include <omp.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>
#include <algorithm>
#include "gemm.h"
using namespace minitorch_clf::gemm;
static float* alloc(size_t n){ float* p=(float*)std::aligned_alloc(64,(n*4+63)/64*64); return p;}
int main(int argc,char**argv){
  const long B = argc>1?atol(argv[1]):1024, I=784, O=128;
  std::mt19937 g(1); std::uniform_real_distribution<float> u(-1,1);
  float *x=alloc(B*I),*w=alloc(O*I),*h=alloc(B*O),*dz=alloc(B*O),*dw=alloc(O*I),*p0=alloc(O*I),*p1=alloc(O*I),*ref=alloc(O*I);
  for(long i=0;i<B*I;++i)x[i]=u(g); for(long i=0;i<O*I;++i)w[i]=u(g); for(long i=0;i<B*O;++i)dz[i]=u(g);
  Shape fs{B,O,I,Layout::kRows,Layout::kColumns}; Plan fp{Isa::kAvx512,Kernel::kOuter,192,2,Split::kRowsFirst};
  Plan cols{Isa::kAvx512,Kernel::kOuter,192,2,Split::kColumnsFirst};
  Plan one{Isa::kAvx512,Kernel::kOuter,192,1,Split::kColumnsFirst};
  auto fwd=[&]{ sgemm_planned(B,O,I,{x,I,1},{w,1,I},h,O,{},fp); };
  auto dw_cols=[&]{ sgemm_planned(O,I,B,{dz,1,O},{x,I,1},dw,I,{},cols); };
  auto dw_k=[&]{
    const long half=(B/2+7)/8*8;
    #pragma omp parallel num_threads(2)
    { int t=omp_get_thread_num(); long k0=t?half:0,k1=t?B:half;
      sgemm_planned(O,I,k1-k0,{dz+k0*O,1,O},{x+k0*I,I,1},t?p1:p0,I,{},one);
      #pragma omp barrier
      long c0=t?O/2:0,c1=t?O:O/2;
      for(long i=c0;i<c1;++i){ float*d=dw+i*I; const float*a=p0+i*I,*b=p1+i*I;
        #pragma omp simd
        for(long j=0;j<I;++j) d[j]=a[j]+b[j]; }
    }
  };
  dw_cols(); memcpy(ref,dw,O*I*4); dw_k(); double md=0; for(long i=0;i<O*I;++i) md=std::max(md,(double)fabsf(ref[i]-dw[i])); printf("max diff %g\n",md);
  auto tm=[&](auto f){ double best=1e9; for(int r=0;r<7;++r){ auto t0=std::chrono::steady_clock::now(); for(int i=0;i<50;++i) f(); best=std::min(best,std::chrono::duration<double>(std::chrono::steady_clock::now()-t0).count()/50);} return best*1e6;};
  for(int rep=0;rep<3;++rep){
    double a=tm([&]{fwd();dw_cols();}), b=tm([&]{fwd();dw_k();}), f=tm(fwd), c=tm(dw_cols), k=tm(dw_k);
    printf("B %ld: fwd+dW(cols) %.1f  fwd+dW(K) %.1f  | fwd %.1f  dW cols alone %.1f  dW K alone %.1f\n",B,a,b,f,c,k);
  }
}
