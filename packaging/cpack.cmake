# The Debian package: `cpack -G DEB` in the build folder (or `cmake --build build --target package`)
# writes build/sandboxd_<version>_amd64.deb holding everything `cmake --install` installs: the
# daemon, sandboxctl, sandboxd-unpack, the zygote extension, the unit, sandboxd.conf, the seccomp
# and callout policies, the runner, the image manifests with sandboxd-build-image, and the client
# library (CMake package and pkg-config file). Its paths are this build's install paths
# (CMAKE_INSTALL_PREFIX, /usr/local unless configured otherwise): the same paths the daemon's
# compiled-in defaults and the unit name.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sandboxd)
set(CPACK_PACKAGE_VENDOR "sandboxd")
set(CPACK_PACKAGE_CONTACT "sandboxd maintainers <sandboxd@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "confined Python UDFs for a query engine")
set(CPACK_PACKAGE_DESCRIPTION
    "sandboxd runs Python user-defined functions for a query engine in Linux sandboxes: namespaces, a seccomp allow-list, cgroup limits, a read-only Debian image, no network.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# Install with DESTDIR at the configured prefix: install(CODE) steps (callout.json) and the
# absolute paths compiled into the binaries stay right.
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The libraries of every installed ELF file, from dpkg-shlibdeps; besides them: adduser for the
# postinst, debootstrap for sandboxd-build-image, systemd for the unit.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, debootstrap")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
# sandboxd.conf and the seccomp policy are the operator's to edit: dpkg keeps their changes.
# (callout.json is installed only where none exists; it is not a conffile.)
set(SANDBOXD_STATE_DIR /var/lib/sandboxd)
set(SANDBOXD_CONFFILES_PATH ${CMAKE_CURRENT_BINARY_DIR}/deb/conffiles)
file(WRITE ${SANDBOXD_CONFFILES_PATH}
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/sandboxd/sandboxd.conf\n"
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/sandboxd/sandbox.seccomp\n")
foreach(script postinst prerm postrm)
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/deb/${script}.in
                 ${CMAKE_CURRENT_BINARY_DIR}/deb/${script} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${SANDBOXD_CONFFILES_PATH}
    ${CMAKE_CURRENT_BINARY_DIR}/deb/postinst
    ${CMAKE_CURRENT_BINARY_DIR}/deb/prerm
    ${CMAKE_CURRENT_BINARY_DIR}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# RelWithDebInfo binaries carry their debug info; the package does not.
set(CPACK_STRIP_FILES ON)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR}/packaging/deb)
include(CPack)
