#ifndef CTURBOJPEG_SHIM_H
#define CTURBOJPEG_SHIM_H
// libjpeg-turbo's TurboJPEG API: errors come back as return codes (the libjpeg API reports them
// through longjmp, which Swift cannot catch).
#include <turbojpeg.h>
#endif
