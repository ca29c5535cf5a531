; DalalDesk's Windows installer (NSIS 3, Modern UI 2): a per-user install that needs no
; administrator rights, a Start-menu entry, an optional desktop shortcut and an uninstaller
; registered in "Apps & features".
;
; packaging/build.py passes the defines:
;   VERSION   the app's version (pyproject.toml)
;   PAYLOAD   the Windows onedir bundle (dalaldesk.exe and its _internal folder)
;   OUTFILE   the installer to write
;   ICON      the installer's and the shortcuts' icon
; Build it with `python packaging/build.py nsis --payload DIR` (makensis runs on Linux too).

Unicode true
SetCompressor /SOLID lzma
RequestExecutionLevel user

!ifndef VERSION
  !error "VERSION is not defined: build with packaging/build.py"
!endif
!ifndef PAYLOAD
  !error "PAYLOAD (the Windows onedir bundle) is not defined: build with packaging/build.py"
!endif

!define APP "DalalDesk"
!define EXE "dalaldesk.exe"
!define CLI_EXE "dalaldesk-cli.exe" ; the console twin that runs the command lines
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP}"

!include "MUI2.nsh"
!include "FileFunc.nsh"

Name "${APP} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP}"
InstallDirRegKey HKCU "Software\${APP}" "InstallDir"
!ifdef ICON
  !define MUI_ICON "${ICON}"
  !define MUI_UNICON "${ICON}"
!endif
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP} on the paper market"

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APP}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APP} installer"
VIAddVersionKey "LegalCopyright" "DalalDesk developers"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
; The uninstaller's first page says what stays behind, the broker secrets above all.
!define MUI_WELCOMEPAGE_TEXT "This removes ${APP}'s program files from $INSTDIR.$\r$\n$\r$\n\
Your books, layouts, settings and logs stay in %LOCALAPPDATA%\dalaldesk\dalaldesk, for a \
reinstall to find.$\r$\n$\r$\n\
Broker API keys and access tokens, the local API's token and the webhook passphrase stay in \
Windows Credential Manager (Windows Credentials: the entries ending in @dalaldesk, or named \
dalaldesk). To remove them, press Forget for each broker in ${APP}'s Settings > Brokers before \
uninstalling, or delete them in Credential Manager.$\r$\n$\r$\n\
Close ${APP} before you go on."
!insertmacro MUI_UNPAGE_WELCOME
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; A desk running from the folder keeps its program and its libraries open: replacing or removing
; them under it deletes what Windows lets go and stops at the first locked library, leaving a
; mixed install. A running Windows program cannot be opened for writing, so the executables are
; tried that way (the desk, a headless run, the console twin and every worker process all run
; one of them), and the trader is asked to close the desk until they are free or to cancel.
!macro DESK_CLOSED_CHECK PREFIX
Function ${PREFIX}DeskClosed
  Push $0
  Push $1
  retry:
  StrCpy $1 "${EXE}"
  Call ${PREFIX}ProgramFree
  StrCmp $0 "free" 0 running
  StrCpy $1 "${CLI_EXE}"
  Call ${PREFIX}ProgramFree
  StrCmp $0 "free" done running
  running:
  MessageBox MB_RETRYCANCEL|MB_ICONEXCLAMATION "${APP} is running from $INSTDIR \
($1).$\r$\n$\r$\nClose it first (File > Exit in the desk's window; end any dalaldesk \
--headless or backtest run), then press Retry. Cancel leaves ${APP} as it is." \
    /SD IDCANCEL IDRETRY retry
  Pop $1
  Pop $0
  Abort
  done:
  Pop $1
  Pop $0
FunctionEnd

; $0 = "free" when $INSTDIR\$1 is absent or can be opened for writing (no process runs it).
Function ${PREFIX}ProgramFree
  Push $2
  StrCpy $0 "free"
  IfFileExists "$INSTDIR\$1" 0 free
  ClearErrors
  FileOpen $2 "$INSTDIR\$1" a
  IfErrors 0 opened
  StrCpy $0 "running"
  Goto free
  opened:
  FileClose $2
  free:
  Pop $2
FunctionEnd
!macroend
!insertmacro DESK_CLOSED_CHECK ""
!insertmacro DESK_CLOSED_CHECK "un."

; $INSTDIR is the installed folder here (InstallDirRegKey), so an upgrade is checked before its
; first page; the section checks again, for the folder finally chosen and a desk started since.
Function .onInit
  Call DeskClosed
FunctionEnd

Function un.onInit
  Call un.DeskClosed
FunctionEnd

Section "${APP}" SecApp
  SectionIn RO
  Call DeskClosed
  ; A reinstall or an upgrade replaces the program files; the trader's books, layouts, settings
  ; and logs live in %LOCALAPPDATA%\dalaldesk\dalaldesk (platformdirs with no author: the name
  ; twice), which is never touched here.
  RMDir /r "$INSTDIR\_internal"
  RMDir /r "$INSTDIR\client"
  SetOutPath "$INSTDIR"
  File /r "${PAYLOAD}\*.*"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateDirectory "$SMPROGRAMS\${APP}"
  CreateShortcut "$SMPROGRAMS\${APP}\${APP}.lnk" "$INSTDIR\${EXE}"
  CreateShortcut "$SMPROGRAMS\${APP}\Uninstall ${APP}.lnk" "$INSTDIR\uninstall.exe"
  WriteRegStr HKCU "Software\${APP}" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${APP}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "DalalDesk developers"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${EXE}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" "$0"
SectionEnd

Section "Desktop shortcut" SecDesktop
  CreateShortcut "$DESKTOP\${APP}.lnk" "$INSTDIR\${EXE}"
SectionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecApp} "The trading workstation (required)."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDesktop} "A shortcut on the desktop."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

Section "Uninstall"
  ; Program files only: the trader's books, layouts and logs stay (a reinstall finds them), and so
  ; do the broker secrets in Credential Manager (the confirmation page says so).
  Call un.DeskClosed
  Delete "$DESKTOP\${APP}.lnk"
  RMDir /r "$SMPROGRAMS\${APP}"
  RMDir /r "$INSTDIR\_internal"
  RMDir /r "$INSTDIR\client"
  Delete "$INSTDIR\${EXE}"
  Delete "$INSTDIR\${CLI_EXE}"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  DeleteRegKey HKCU "Software\${APP}"
SectionEnd
