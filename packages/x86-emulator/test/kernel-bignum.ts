/**
 * The Linux kernel's `mpihelp_addmul_1` (lib/mpi, Debian 6.1 cloud kernel), instruction for
 * instruction from its disassembly (the generic C `umul_ppmm` on 32-bit halves): most of a Linux
 * boot's instructions are this kind of loop (the crypto self-tests' RSA/DH arithmetic). Used by the
 * benchmark and by the block compiler's tests.
 */
export const MPIHELP_ADDMUL_1 = `
addmul_1:
  mov r10, rdi
  mov edi, edx
  mov r9, rcx
  push r14
  neg edi
  push r13
  mov r11, rsi
  shr r9, 32
  movsxd rax, edi
  push r12
  mov r8d, ecx
  xor esi, esi
  push rbp
  mov rbp, rax
  push rbx
  movabs rbx, 0x100000000
  jmp 2f
1:
  movsxd rax, edi
2:
  sub rax, rbp
  mov rcx, [r11 + rax*8]
  lea r12, [rax*8]
  mov rdx, rcx
  mov ecx, ecx
  shr rdx, 32
  mov rax, rcx
  imul rax, r8
  mov r13, rdx
  imul r13, r8
  imul rcx, r9
  imul rdx, r9
  mov r14, rax
  mov eax, eax
  shr r14, 32
  add rcx, r13
  add rcx, r14
  mov r14, rdx
  add rdx, rbx
  cmp rcx, r13
  mov r13, rcx
  cmovae rdx, r14
  add rax, rsi
  shl r13, 32
  add rax, r13
  cmp rax, rsi
  setb sil
  add r12, r10
  shr rcx, 32
  movzx esi, sil
  add rax, [r12]
  adc rsi, rcx
  mov [r12], rax
  add rsi, rdx
  add edi, 1
  jne 1b
  pop rbx
  mov rax, rsi
  pop rbp
  pop r12
  pop r13
  pop r14
  ret
`;

/**
 * Intel-syntax program: `iterations` calls of {@link MPIHELP_ADDMUL_1} on 32 limbs (result at r15,
 * source at r15 + 2048, carries summed at r15 + 1024); it ends after its last line, where the caller
 * appends what stops the run.
 *
 * @example assemble(`${bignumProgram(100)}  mov byte ptr [0x30000100], al`)
 */
export function bignumProgram(iterations: number): string {
  return `
  mov r12, ${iterations}
outer:
  lea rdi, [r15]
  lea rsi, [r15 + 2048]
  mov edx, 32
  mov rcx, 0x9e3779b97f4a7c15
  call addmul_1
  add [r15 + 1024], rax
  dec r12
  jnz outer
  jmp 9f
${MPIHELP_ADDMUL_1}
9:
`;
}
