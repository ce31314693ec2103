/*
 * cpu.c: runtime detection of the instruction-set levels in cpu.h.
 *
 * libgcc's __builtin_cpu_supports also checks that the OS saves the wider
 * register state (XCR0), so a level reported here is safe to execute.
 */
#include "util/cpu.h"

#include <strings.h>

int
sp_cpu_supports(sp_isa isa)
{
	switch (isa)
	{
		case SP_ISA_SCALAR:
			return 1;
#if defined(__x86_64__) && defined(__GNUC__)
		case SP_ISA_AVX2:
			__builtin_cpu_init();
			return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
		case SP_ISA_AVX512:
			__builtin_cpu_init();
			return __builtin_cpu_supports("avx512f") &&
				__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
		default:
			return 0;
	}
}

sp_isa
sp_cpu_best_isa(void)
{
	for (int isa = SP_ISA_COUNT - 1; isa > SP_ISA_SCALAR; isa--)
		if (sp_cpu_supports((sp_isa) isa))
			return (sp_isa) isa;
	return SP_ISA_SCALAR;
}

int
sp_isa_from_name(const char *name)
{
	if (!name)
		return -2;
	if (strcasecmp(name, "auto") == 0)
		return SP_ISA_AUTO;
	if (strcasecmp(name, "scalar") == 0)
		return SP_ISA_SCALAR;
	if (strcasecmp(name, "avx2") == 0)
		return SP_ISA_AVX2;
	if (strcasecmp(name, "avx512") == 0 || strcasecmp(name, "avx512f") == 0)
		return SP_ISA_AVX512;
	return -2;
}

const char *
sp_isa_name(sp_isa isa)
{
	switch (isa)
	{
		case SP_ISA_AUTO:
			return "auto";
		case SP_ISA_SCALAR:
			return "scalar";
		case SP_ISA_AVX2:
			return "avx2";
		case SP_ISA_AVX512:
			return "avx512";
		case SP_ISA_COUNT:
			break;
	}
	return "unknown";
}
