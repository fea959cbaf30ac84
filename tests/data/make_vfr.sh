#!/bin/sh
# Makes vfr.mp4 and vfr.mkv: 20 flat grey 32x24 frames, frame i of grey level 20 + 10 * i,
# H.264; frames 0-9 at 10 fps (t = 0.0, 0.1, ... 0.9 s), frames 10-19 at 2 fps
# (t = 1.0, 1.5, ... 5.5 s). Made with ffmpeg 5.1 (Debian 12); tests/test_media.py reads them.
set -e
cd "$(dirname "$0")"
for out in vfr.mp4 vfr.mkv; do
    ffmpeg -loglevel error -y -bitexact \
        -f lavfi -i "nullsrc=s=32x24:r=10:d=2,format=rgb24,geq=r='20+10*N':g='20+10*N':b='20+10*N'" \
        -vf "setpts='if(lt(N,10),N*0.1,1.0+(N-10)*0.5)/TB'" -fps_mode vfr \
        -c:v libx264 -preset veryslow -crf 18 -pix_fmt yuv420p -map_metadata -1 "$out"
done
