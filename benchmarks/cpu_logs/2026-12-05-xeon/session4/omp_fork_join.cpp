#include <omp.h>
#include <chrono>
#include <cstdio>
int main(){
  volatile int sink=0;
  for(int rep=0;rep<5;rep++){
  const int n=20000;
  auto t0=std::chrono::steady_clock::now();
  for(int i=0;i<n;i++){
    #pragma omp parallel for num_threads(2) schedule(static)
    for(int j=0;j<2;j++) sink+=j;
  }
  auto t1=std::chrono::steady_clock::now();
  #pragma omp parallel num_threads(2)
  for(int i=0;i<n;i++){
    #pragma omp for schedule(static)
    for(int j=0;j<2;j++) sink+=j;
  }
  auto t2=std::chrono::steady_clock::now();
  printf("fork/join region %.3f us, orphan for+barrier %.3f us\n",
    std::chrono::duration<double,std::micro>(t1-t0).count()/n,
    std::chrono::duration<double,std::micro>(t2-t1).count()/n);
  }
}
