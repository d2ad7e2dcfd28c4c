// Throw-away harness (not committed): runs walk requests on the RISC-V IOMMU reference model.
// stdin: "M n pa val" memory words (n = count of following pairs per line is 1), "V ..." requests, "C" clear memory.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iommu.h"
#define MAXW 200000
static uint64_t wa[MAXW], wv[MAXW]; static int nw;
static uint64_t reads[4096]; static int nr;
static uint64_t wrs[256][2]; static int nwr;
static uint64_t *find(uint64_t a){ for(int i=0;i<nw;i++) if(wa[i]==a) return &wv[i]; return 0; }
static uint64_t get(uint64_t a){ uint64_t *p=find(a); return p?*p:0; }
static void put(uint64_t a, uint64_t v){ uint64_t *p=find(a); if(p) *p=v; else { wa[nw]=a; wv[nw++]=v; } }
uint8_t read_memory(uint64_t addr, uint8_t size, char *data, uint32_t rcid, uint32_t mcid, uint32_t pma, int endian){
  (void)rcid;(void)mcid;(void)pma;(void)endian; reads[nr++]=addr; uint64_t v=get(addr&~7ULL); memcpy(data,&v,size); return 0; }
uint8_t read_memory_for_AMO(uint64_t addr, uint8_t size, char *data, uint32_t rcid, uint32_t mcid, uint32_t pma, int endian){
  return read_memory(addr,size,data,rcid,mcid,pma,endian); }
uint8_t write_memory(char *data, uint64_t addr, uint32_t size, uint32_t rcid, uint32_t mcid, uint32_t pma, int endian){
  (void)rcid;(void)mcid;(void)pma;(void)endian; uint64_t v=0; memcpy(&v,data,size); wrs[nwr][0]=addr; wrs[nwr++][1]=v; put(addr,v); return 0; }
uint8_t read_memory_test(uint64_t addr, uint8_t size, char *data){ return read_memory(addr,size,data,0,0,0,0); }
uint8_t write_memory_test(char *data, uint64_t addr, uint32_t size){ return write_memory(data,addr,size,0,0,0,0); }
void iommu_to_hb_do_global_observability_sync(uint8_t PR, uint8_t PW){(void)PR;(void)PW;}
void send_msg_iommu_to_hb(ats_msg_t *m){(void)m;}
static iommu_t io;
int main(void){
  char line[512];
  while(fgets(line,sizeof line,stdin)){
    if(line[0]=='C'){ nw=0; continue; }
    if(line[0]=='M'){ unsigned long long a,v; sscanf(line+2,"%llx %llx",&a,&v); put(a,v); continue; }
    if(line[0]!='V') continue;
    char id[64], acc; unsigned smode,gmode,sade,gade,pas,priv,sum; unsigned long long sppn,gppn,iova;
    sscanf(line+2,"%63s %u %llx %u %llx %u %u %u %llx %c %u %u",id,&smode,&sppn,&gmode,&gppn,&sade,&gade,&pas,&iova,&acc,&priv,&sum);
    memset(&io,0,sizeof io);
    io.reg_file.capabilities.pas=pas; io.reg_file.capabilities.Sv39=1; io.reg_file.capabilities.Sv48=1; io.reg_file.capabilities.Sv57=1;
    io.reg_file.capabilities.Sv39x4=1; io.reg_file.capabilities.Sv48x4=1; io.reg_file.capabilities.Sv57x4=1; io.reg_file.capabilities.Svpbmt=1;
    iosatp_t s; s.raw=0; s.MODE=smode; s.PPN=sppn; iohgatp_t g; g.raw=0; g.MODE=gmode; g.PPN=gppn;
    uint8_t r=acc=='r', w=acc=='w', x=acc=='x';
    uint32_t cause=0; uint64_t iotval2=0, gpa=0, pa=0, psz=0, gsz=0; pte_t vs; gpte_t gp; int ok=1;
    nr=0; nwr=0;
    uint64_t keep[MAXW]; (void)keep;
    if(two_stage_address_translation(&io,iova,1,0,r,w,x,0,0,0,0,s,priv?1:0,sum,sade,0,0,g,gade,0,&cause,&iotval2,&gpa,&psz,&vs,0,0,0)) ok=0;
    if(ok){ uint8_t f=second_stage_address_translation(&io,gpa,1,0,r,w,x,0,0,0,0,0,0,0,g,gade,sade,0,&pa,&gsz,&gp,0,0);
      if(f){ ok=0; if(f==0x21){ cause=x?20:r?21:23; iotval2=gpa&~3ULL; } else if(f==0x22) cause=x?1:r?5:7; else cause=274; } }
    if(ok){ int sn = smode && vs.N, gn = gmode && gp.N;
      printf("R %s ok %llx %llx %llx %llx %d %d",id,(unsigned long long)pa,(unsigned long long)gpa,(unsigned long long)psz,(unsigned long long)gsz,sn,gn);
    } else printf("R %s fault %u %llx",id,cause,(unsigned long long)iotval2);
    printf(" |"); for(int i=0;i<nr;i++) printf(" %llx",(unsigned long long)reads[i]);
    printf(" |"); for(int i=0;i<nwr;i++) printf(" %llx=%llx",(unsigned long long)wrs[i][0],(unsigned long long)wrs[i][1]);
    printf("\n");
  }
  return 0;
}
