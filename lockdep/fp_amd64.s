#include "textflag.h"

// func fpCallers(pcs []uintptr) int
//
// Walks the frame-pointer chain from the caller's frame and stores up to
// len(pcs) return addresses. The function has no frame of its own, so BP is
// still the caller's frame pointer: 8(BP) is the caller's return address and
// 0(BP) the next frame pointer.
TEXT ·fpCallers(SB), NOSPLIT|NOFRAME, $0-32
	MOVQ pcs_base+0(FP), DI
	MOVQ pcs_len+8(FP), CX
	MOVQ BP, AX
	XORQ DX, DX
loop:
	CMPQ DX, CX
	JGE  done
	TESTQ AX, AX
	JZ   done
	MOVQ 8(AX), BX
	TESTQ BX, BX
	JZ   done
	MOVQ BX, (DI)(DX*8)
	INCQ DX
	MOVQ 0(AX), AX
	JMP  loop
done:
	MOVQ DX, ret+24(FP)
	RET
