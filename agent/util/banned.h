/* agent/util/banned.h - functions hale never calls (git's banned.h).
 * Included by agent/internal.h after the system headers, so a use fails to compile. */
#pragma once

#define HALE_BANNED(func) sorry_##func##_is_banned_in_hale

#undef atoi
#define atoi(x) HALE_BANNED(atoi)
#undef atol
#define atol(x) HALE_BANNED(atol)
#undef strtok
#define strtok(x, y) HALE_BANNED(strtok)
#undef strcpy
#define strcpy(x, y) HALE_BANNED(strcpy)
#undef strcat
#define strcat(x, y) HALE_BANNED(strcat)
#undef sprintf
#define sprintf(...) HALE_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) HALE_BANNED(vsprintf)
#undef sscanf
#define sscanf(...) HALE_BANNED(sscanf)
#undef gets
#define gets(x) HALE_BANNED(gets)
#undef system
#define system(x) HALE_BANNED(system)
#undef popen
#define popen(x, y) HALE_BANNED(popen)
